<?php
/**
 * An Appwrite queue connection (utopia-php/queue 0.21.1, as app/worker.php:75-76 builds it):
 * connect without AUTH, the blocking pops it uses and the claim/ack bookkeeping.
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'queue' => $queue, 'timeout' => $timeout] = $config;
$processing = "{$queue}.processing";

$redis = queue_redis($host, $port);

// An empty queue: brPop blocks for its timeout and returns an empty array
// (Connection/Redis.php:84-88 turns that into `false`, Adapter.php:42 loops with 2 s).
$start = microtime(true);
$empty = $redis->brPop([$queue], $timeout);
emit('empty_pop', ['reply' => $empty, 'seconds' => microtime(true) - $start]);

// The same connection, still usable: publish a job the way Broker/Redis.php:152-163 does
// (lPush of JSON) and receive it with brPop (Connection/Redis.php:84).
$job = ['pid' => uniqid('', true), 'queue' => $queue, 'timestamp' => time(), 'payload' => ['n' => 1]];
$redis->lPush($queue, json_encode($job));
$popped = $redis->brPop([$queue], $timeout);
emit('popped', ['list' => $popped[0] ?? null, 'job' => json_decode($popped[1] ?? 'null', true)]);

// bRPopLPush into a processing list (Connection/Redis.php:41-49), then the ack's lRem
// (Connection/Redis.php:115-118: count 1).
$redis->lPush($queue, 'job-a', 'job-b');
$moved = $redis->bRPopLPush($queue, $processing, $timeout);
$inProcessing = $redis->lRange($processing, 0, -1);
$removed = $redis->lRem($processing, $moved, 1);
emit('moved', [
    'moved' => $moved, 'processing' => $inProcessing, 'removed' => $removed,
    'left' => $redis->lRange($queue, 0, -1), 'processing_after' => $redis->lLen($processing),
]);
$redis->del($queue);
