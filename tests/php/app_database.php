<?php
// usage: php app_database.php CONSTANTS_FILE → APP_DATABASE as JSON, under this environment.
require __DIR__ . '/load_constants.php';
load_appwrite_constants($argv[1]);
echo json_encode(APP_DATABASE), "\n";
