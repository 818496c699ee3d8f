<?php
/**
 * An Appwrite pooled Redis connection (cache, lock, pubsub pools and the `redis` resource) doing
 * what Appwrite does with one: plain commands, MULTI/EXEC (the rate limiter's), a long
 * pipeline, and pconnect handing the same socket back to the next caller in the process
 * (app/realtime.php:230-251 opens one per coroutine context).
 */

require __DIR__ . '/lib.php';

$config = config();
['host' => $host, 'port' => $port, 'prefix' => $prefix] = $config;
$password = $config['password'] ?? '';

$redis = pool_redis($host, $port, $password);
$id = $redis->client('id');
emit('connected', ['client_id' => $id, 'ping' => $redis->ping('appwrite')]);

$redis->set("{$prefix}:value", "héllo\r\nwörld\0");
emit('get', ['same' => $redis->get("{$prefix}:value") === "héllo\r\nwörld\0"]);

// MULTI/EXEC as the rate limiter does on the `redis` resource (utopia-php/abuse 1.4.1, pinned by
// appwrite 1.9.6's composer.lock: src/Abuse/Adapters/TimeLimit/Redis.php:72-75 hit(), :91-94 set()).
$limitKey = "{$prefix}:abuse";
$exec = [
    $redis->multi()->incr($limitKey)->expire($limitKey, 60)->exec(),
    $redis->multi()->incr($limitKey)->expire($limitKey, 60)->exec(),
    $redis->multi()->set($limitKey, '7')->expire($limitKey, 60)->exec(),
];
emit('multi', ['replies' => $exec, 'value' => $redis->get($limitKey), 'ttl' => $redis->ttl($limitKey)]);

// A long pipeline: thousands of commands written before any reply is read. (Appwrite 1.9.6's
// app/ and src/ call no pipeline(); this is phpredis's bulk mode, the hardest case for order.)
$size = (int) $config['pipeline'];
$redis->pipeline();
for ($i = 0; $i < $size; $i++) {
    $redis->incr("{$prefix}:counter");
    $redis->set("{$prefix}:key:{$i}", "value-{$i}");
    $redis->get("{$prefix}:key:{$i}");
}
$replies = $redis->exec();
$counts = [];
$values = [];
foreach (array_chunk($replies, 3) as [$count, $set, $value]) {
    $counts[] = $count;
    $values[] = $set === true ? $value : null;
}
emit('pipeline', ['replies' => count($replies), 'counts' => $counts, 'values' => $values]);

// pconnect again after the object is gone: phpredis takes the socket back from its pool and
// checks it with an ECHO first (redis.pconnect.echo_check_liveness), mid-stream for the bridge.
unset($redis);
try {
    $again = pool_redis($host, $port, $password);
    $second = new Redis();  // while `$again` holds the pooled socket, another one is new
    @$second->pconnect($host, $port);
    emit('reused', ['client_id' => $again->client('id'), 'other_id' => $second->client('id')]);
} catch (RedisException $error) {
    emit('reused', ['error' => $error->getMessage()]);
}
