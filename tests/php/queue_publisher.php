<?php
/**
 * Appwrite's publisher pool entry (appwrite 1.9.6 app/init/registers.php:362-369): one queue
 * connection, no AUTH, enqueuing as utopia-php/queue 0.21.1 Broker/Redis.php:152-164 does
 * (lPush of a JSON message with a unique pid).
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'name' => $name, 'jobs' => $jobs] = $config;

$redis = queue_redis($host, $port);
$pids = [];
for ($i = 0; $i < $jobs; $i++) {
    $pid = uniqid('', true);
    $message = ['pid' => $pid, 'queue' => $name, 'timestamp' => time(), 'payload' => ['n' => $i]];
    $redis->lPush("utopia-queue.queue.{$name}", json_encode($message));
    $pids[] = $pid;
}
emit('published', ['pids' => $pids]);
