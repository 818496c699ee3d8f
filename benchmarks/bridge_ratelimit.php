<?php
// Appwrite's rate limiter as phpredis sends it (utopia-php/abuse 1.4.1
// src/Abuse/Adapters/TimeLimit/Redis.php:49 and :72-75): GET the counter, then MULTI, INCR,
// EXPIRE, EXEC, each a round trip of its own (phpredis waits for +OK and every +QUEUED).
// Reads {"host", "port", "tls", "password", "count", "key"} as one JSON line on stdin (the
// password never reaches argv); prints one JSON line: each check's latency in microseconds.
$config = json_decode(fgets(STDIN), true);
$redis = new Redis();
$host = $config["tls"] ? "tls://" . $config["host"] : $config["host"];
if ($config["tls"]) {
    $context = ["stream" => ["verify_peer" => false, "verify_peer_name" => false]];
    $redis->connect($host, $config["port"], 5.0, null, 0, 0, $context);
} else {
    $redis->connect($host, $config["port"], 5.0);
}
if ($config["password"] !== null) {
    $redis->auth($config["password"]);
}
$key = $config["key"];
$latencies = [];
for ($i = 0; $i < $config["count"]; $i++) {
    $started = hrtime(true);
    $redis->get($key);
    $redis->multi()->incr($key)->expire($key, 60)->exec();
    $latencies[] = intdiv(hrtime(true) - $started, 1000);
}
echo json_encode(["latencies_us" => $latencies]), "\n";
