<?php
/**
 * What an API worker does on every realtime event (appwrite 1.9.6
 * src/Appwrite/Messaging/Adapter/Realtime.php:434): PUBLISH a JSON message to `realtime` on a
 * pubsub-pool connection (pooled pconnect, app/init/registers.php:323-330).
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'channel' => $channel, 'messages' => $count] = $config;

$redis = pool_redis($host, $port);
$receivers = [];
for ($n = 0; $n < $count; $n++) {
    $receivers[] = $redis->publish($channel, json_encode(['n' => $n, 'data' => str_repeat('x', $n % 512)]));
}
emit('published', ['receivers' => array_values(array_unique($receivers))]);
