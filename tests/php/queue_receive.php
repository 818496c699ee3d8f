<?php
/**
 * A queue worker's receive loop, step by step: what each brPop turns into on the way through
 * utopia-php/queue 0.21.1. Connection/Redis.php:82-91 maps an empty reply, and phpredis's
 * `false` for an error reply, to "no message"; Broker/Redis.php:64-82 catches a RedisException
 * and reconnects. Reports the outcome of `rounds` receives.
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'queue' => $queue, 'rounds' => $rounds] = $config;

$receive = queue_redis($host, $port);
$outcomes = [];
for ($round = 0; $round < $rounds; $round++) {
    try {
        $response = $receive->brPop([$queue], 1);
        $outcomes[] = empty($response)
            ? ['outcome' => 'none', 'last_error' => $receive->getLastError()]
            : ['outcome' => 'message', 'message' => $response[1]];
        $receive->clearLastError();
    } catch (RedisException $error) {
        $outcomes[] = ['outcome' => 'exception', 'message' => $error->getMessage()];
    }
}
emit('received', ['outcomes' => $outcomes]);
