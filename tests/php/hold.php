<?php
/**
 * One Appwrite process's connections, held open together: `db` pool PDOs
 * (app/init/registers.php:293-300), `pool` pooled Redis pconnects (registers.php:323-330) and
 * `queue` plain Redis connects (app/worker.php:75-76, registers.php:366). Each is used once
 * (SELECT / CLIENT ID) so the server has really counted it. Holds them until told `release`.
 * `dedicated` of the Redis connections (queue ones first) hold a WATCH meanwhile: through the
 * multiplexed bridge each then needs an upstream connection of its own, as a blocking receive,
 * a subscription or a MULTI does. `database.driver` `pgsql` speaks to PostgreSQL (PgBouncer).
 *
 * A refused connection is one stderr line naming the process, the kind and the server's words
 * (what the process's log would show); the script then ends with status 1.
 */

require __DIR__ . '/lib.php';

$config = config();
$name = $config['name'];
$held = [];
$ids = ['db' => [], 'redis' => []];
$refusals = [];

$refuse = static function (string $kind, string $message) use ($name, &$refusals): void {
    $message = trim(preg_replace('/\s+/', ' ', $message));
    $refusals[] = ['kind' => $kind, 'message' => $message];
    fwrite(STDERR, "{$name}: {$kind} connection refused: {$message}\n");
};

for ($i = 0; $i < $config['db']; $i++) {
    try {
        $pdo = appwrite_pdo($config['database']);
        $idQuery = ($config['database']['driver'] ?? 'mysql') === 'pgsql'
            ? 'SELECT pg_backend_pid() AS id' : 'SELECT CONNECTION_ID() AS id';
        $ids['db'][] = (int) $pdo->query($idQuery)->fetch()['id'];
        $held[] = $pdo;
    } catch (PDOException $error) {
        $refuse('database', $error->getMessage());
    }
}

$redisKinds = array_merge(array_fill(0, $config['queue'], 'queue'), array_fill(0, $config['pool'], 'pool'));
$dedicated = $config['dedicated'] ?? 0;
foreach ($redisKinds as $index => $kind) {
    try {
        $redis = $kind === 'pool'
            ? pool_redis($config['redis']['host'], $config['redis']['port'])
            : queue_redis($config['redis']['host'], $config['redis']['port']);
        if ($index < $dedicated && $redis->rawCommand('WATCH', "hold:{$name}:{$index}") === false) {
            $refuse("redis dedicated", (string) $redis->getLastError());
            continue;
        }
        $id = $redis->client('id');
        if (!is_int($id)) {
            // phpredis answers an error reply with `false` and keeps the words for getLastError().
            $refuse("redis {$kind}", (string) $redis->getLastError());
            continue;
        }
        $ids['redis'][] = $id;
        $held[] = $redis;
    } catch (RedisException $error) {
        $refuse("redis {$kind}", $error->getMessage());
    }
}

// Held either way: a refused process keeps what it did get, as an Appwrite process keeps its
// pools, so what the servers accepted in total is exact however the processes interleave.
emit('held', ['ids' => $ids, 'refusals' => $refusals]);
await_word('release');
exit($refusals ? 1 : 0);
