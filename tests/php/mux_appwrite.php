<?php
/**
 * One Appwrite 1.9.6 Redis client process, for the multiplexing bridge's scenario
 * (tests/test_bridge_mux_php.py). Each process plays one role, opened the way Appwrite opens
 * it; one process per client, because phpredis' persistent sockets must never cross a fork.
 *
 * Configuration: one JSON line on stdin (no secret ever reaches argv). Events: one JSON line
 * each on stdout. Later stdin lines are go-ahead words from the test.
 *
 * Roles:
 * - worker: a queue worker (app/worker.php:73-82): a `receive` and a `commands` connection,
 *   plain connect() without AUTH (utopia-php/queue 0.21.1 src/Queue/Connection/Redis.php:
 *   193-214), brPop with a 2 s timeout asked again when empty (Connection/Redis.php:82-91),
 *   the claim on `receive` and the ack on `commands` (Broker/Redis.php:95-111).
 * - subscriber: realtime's subscription (app/realtime.php:628-637) on a pooled connection.
 * - cache: a pooled connection (app/init/registers.php:323-330: pconnect, read timeout -1),
 *   in database `db` if the configuration names one, doing what an API request does: cache hSet/hGet (utopia-php/cache 3.0.2
 *   src/Cache/Adapter/Redis.php:104,131), the rate limiter's MULTI/INCR/EXPIRE/EXEC
 *   (utopia-php/abuse 1.4.1 src/Abuse/Adapters/TimeLimit/Redis.php:72-75) and GET/SET.
 */

error_reporting(E_ALL);
set_error_handler(static function (int $level, string $message, string $file, int $line): bool {
    if (!(error_reporting() & $level)) {
        return false;  // silenced with @, as Appwrite silences its pconnect
    }
    throw new ErrorException($message, 0, $level, $file, $line);
});

function emit(string $event, array $data = []): void
{
    fwrite(STDOUT, json_encode(['event' => $event] + $data, JSON_THROW_ON_ERROR) . "\n");
    fflush(STDOUT);
}

set_exception_handler(static function (Throwable $error): void {
    emit('error', ['class' => get_class($error), 'message' => $error->getMessage()]);
    exit(1);
});

function await_word(string $word): void
{
    $line = fgets(STDIN);
    if ($line === false || trim($line) !== $word) {
        throw new RuntimeException("expected '{$word}' on stdin");
    }
}

function pooled(string $host, int $port): Redis
{
    $redis = new Redis();
    @$redis->pconnect($host, $port);
    $redis->setOption(Redis::OPT_READ_TIMEOUT, -1);
    return $redis;
}

function queue_connection(string $host, int $port): Redis
{
    $redis = new Redis();
    $redis->connect($host, $port, 0);
    return $redis;
}

$config = json_decode((string) fgets(STDIN), true, 16, JSON_THROW_ON_ERROR);
['role' => $role, 'host' => $host, 'port' => $port, 'prefix' => $prefix] = $config;

if ($role === 'worker') {
    $queue = "utopia-queue.queue.{$config['queue']}";
    $receive = queue_connection($host, $port);
    $commands = queue_connection($host, $port);
    emit('started', ['pid' => getmypid()]);
    $polls = 0;
    while (true) {
        $polls++;
        $response = $receive->brPop([$queue], 2);
        if (empty($response)) {
            continue;
        }
        $job = json_decode($response[1], true, 16, JSON_THROW_ON_ERROR);
        $receive->set("{$prefix}:jobs:{$job['id']}", $response[1]);
        $receive->lPush("{$prefix}:processing", $job['id']);
        $commands->del("{$prefix}:jobs:{$job['id']}");
        $commands->incr("{$prefix}:success");
        $commands->lRem("{$prefix}:processing", $job['id'], 1);
        emit('served', ['job' => $job['id'], 'polls' => $polls]);
        break;
    }
    exit(0);
}

if ($role === 'subscriber') {
    $redis = pooled($host, $port);
    emit('pinged', ['reply' => $redis->ping(true)]);
    $wanted = (int) $config['messages'];
    $received = [];
    // Like the realtime server, it never returns by itself: the test ends it.
    $redis->subscribe([$config['channel']], static function (Redis $redis, string $channel, string $payload) use (&$received, $wanted): void {
        $received[] = json_decode($payload, true, 16, JSON_THROW_ON_ERROR)['n'];
        if (count($received) === $wanted) {
            emit('received', ['sequence' => $received]);
        }
    });
    exit(0);
}

if ($role === 'cache') {
    $redis = pooled($host, $port);
    if (isset($config['db'])) {
        $redis->select((int) $config['db']);  // a pool given a database (phpredis select())
    }
    $me = $config['n'];
    $ping = $redis->ping();  // false, not an exception, on an error reply
    emit('ready', ['ping' => $ping, 'error' => $redis->getLastError()]);
    await_word('go');
    $wrong = 0;
    for ($i = 0; $i < (int) $config['requests']; $i++) {
        $key = "{$prefix}:cache:{$me}";
        $value = str_repeat(chr(65 + $i % 26), 1 + ($i * 37) % 5000) . "\r\n{$me}:{$i}";
        $redis->hSet($key, "doc-{$i}", $value);
        $wrong += $redis->hGet($key, "doc-{$i}") === $value ? 0 : 1;
        $limit = "{$prefix}:abuse:{$me}";
        $exec = $redis->multi()->incr($limit)->expire($limit, 60)->exec();
        $wrong += ($exec[0] === $i + 1 && $exec[1] === true) ? 0 : 1;
        $redis->set("{$prefix}:plain:{$me}", "{$me}-{$i}");
        $wrong += $redis->get("{$prefix}:plain:{$me}") === "{$me}-{$i}" ? 0 : 1;
    }
    emit('done', ['wrong' => $wrong, 'requests' => (int) $config['requests']]);
    exit(0);
}

throw new InvalidArgumentException("unknown role {$role}");
