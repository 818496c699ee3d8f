<?php
/**
 * One Appwrite queue worker process (appwrite 1.9.6 app/worker.php:73-82): a `receive`
 * connection blocked in brPop and a `commands` connection for acks, both plain connects
 * without AUTH. It serves jobs the way utopia-php/queue 0.21.1 does and stops after `jobs`.
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'name' => $name, 'jobs' => $wanted] = $config;
$namespace = 'utopia-queue';  // Queue.php:9, the default Appwrite keeps
$timeout = 2;  // Adapter.php:9 RECEIVE_TIMEOUT

$receive = queue_redis($host, $port);
$commands = queue_redis($host, $port);
emit('started', ['pid' => getmypid()]);

$served = [];
while (count($served) < $wanted) {
    // Broker/Redis.php:57 → Connection/Redis.php:82-91: brPop, an empty reply means "none yet"
    // and Adapter.php:41-46 simply asks again.
    $response = $receive->brPop(["{$namespace}.queue.{$name}"], $timeout);
    if (empty($response)) {
        continue;
    }
    $message = json_decode($response[1], true, 16, JSON_THROW_ON_ERROR);
    $pid = $message['pid'];
    // The claim, on the receive connection (Broker/Redis.php:95-98; jobTtl 0 → plain SET).
    $receive->set("{$namespace}.jobs.{$name}.{$pid}", json_encode($message));
    $receive->lPush("{$namespace}.processing.{$name}", $pid);
    $receive->incr("{$namespace}.stats.{$name}.total");
    $receive->incr("{$namespace}.stats.{$name}.processing");
    // The ack, on the commands connection (Broker/Redis.php:103-111).
    $commands->del("{$namespace}.jobs.{$name}.{$pid}");
    $commands->incr("{$namespace}.stats.{$name}.success");
    $commands->lRem("{$namespace}.processing.{$name}", $pid, 1);
    $commands->decr("{$namespace}.stats.{$name}.processing");
    $served[] = ['pid' => $pid, 'payload' => $message['payload']];
}
emit('served', ['jobs' => $served]);
