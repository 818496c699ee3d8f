<?php
/**
 * The realtime server's subscription (appwrite 1.9.6 app/realtime.php:628-637): a connection
 * from the pubsub pool (a pooled pconnect, registers.php:323-330), ping(true), then a blocking
 * subscribe to `realtime` whose callback gets every message. Reports after `messages`; like
 * the realtime server it never returns by itself (phpredis 5.3's subscribe loop ignores even
 * exit() in the callback), so the test ends it.
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'channel' => $channel, 'messages' => $wanted] = $config;

$redis = pool_redis($host, $port);
emit('pinged', ['reply' => $redis->ping(true)]);

$received = [];
$redis->subscribe([$channel], static function (Redis $redis, string $channel, string $payload) use (&$received, $wanted): void {
    $received[] = json_decode($payload, true, 16, JSON_THROW_ON_ERROR)['n'];
    if (count($received) === $wanted) {
        emit('received', ['channel' => $channel, 'sequence' => $received]);
    }
});
