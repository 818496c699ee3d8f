<?php
/**
 * What every client script shares: its configuration arrives as one JSON line on stdin (so
 * passwords never reach argv or the environment), it reports JSON event lines on stdout, and
 * later stdin lines are go-ahead words from the test. Connections are opened the way Appwrite
 * 1.9.6 opens them; each helper cites the line it follows.
 */

// No strict_types: Appwrite's files that call phpredis do not declare it either
// (src/Appwrite/PubSub/Adapter/Redis.php:17-20 passes realtime's ping(true) on as is).
error_reporting(E_ALL);

// Warnings become exceptions, except where Appwrite silences them with `@` (its pconnect).
set_error_handler(static function (int $level, string $message, string $file, int $line): bool {
    if (!(error_reporting() & $level)) {
        return false;
    }
    throw new ErrorException($message, 0, $level, $file, $line);
});

/** Reports one event to the test: a JSON object on one stdout line, flushed at once. */
function emit(string $event, array $data = []): void
{
    fwrite(STDOUT, json_encode(['event' => $event] + $data, JSON_THROW_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE) . "\n");
    fflush(STDOUT);
}

// An uncaught error is one event and one stderr line (as a dyno's log would show it), status 1.
set_exception_handler(static function (Throwable $error): void {
    emit('error', ['class' => get_class($error), 'message' => $error->getMessage()]);
    fwrite(STDERR, get_class($error) . ': ' . $error->getMessage() . "\n");
    exit(1);
});

/** The script's configuration: the first stdin line. */
function config(): array
{
    $line = fgets(STDIN);
    if ($line === false) {
        throw new RuntimeException('no configuration line on stdin');
    }
    return json_decode($line, true, 16, JSON_THROW_ON_ERROR);
}

/** Blocks until the test sends `$word` (a go-ahead), without any sleeping. */
function await_word(string $word): void
{
    $line = fgets(STDIN);
    if ($line === false || trim($line) !== $word) {
        throw new RuntimeException("expected '{$word}' on stdin, got " . var_export($line, true));
    }
}

/**
 * A pooled Redis resource: appwrite 1.9.6 app/init/registers.php:323-330 (the same in
 * app/realtime.php:243-248, getRedis()): pconnect with its warning silenced, AUTH only when a
 * password is set, then read timeout -1 (never time out: pubsub and idle pooled connections).
 */
function pool_redis(string $host, int $port, string $password = ''): Redis
{
    $redis = new Redis();
    @$redis->pconnect($host, $port);
    if ($password) {
        $redis->auth($password);
    }
    $redis->setOption(Redis::OPT_READ_TIMEOUT, -1);
    return $redis;
}

/**
 * A queue connection: utopia-php/queue 0.21.1 src/Queue/Connection/Redis.php:193-214 as built
 * by appwrite 1.9.6 app/worker.php:75-76 and app/init/registers.php:366 (host and port only:
 * no user, no password, so never AUTH). Connect timeout -1 becomes 0 (:199); read timeout -1
 * is left unset (:209), i.e. PHP's default_socket_timeout.
 */
function queue_redis(string $host, int $port): Redis
{
    $redis = new Redis();
    $redis->connect($host, $port, 0);
    return $redis;
}

/**
 * A database pool's PDO for MariaDB/MySQL: appwrite 1.9.6 app/init/registers.php:293-300
 * (wrapped by utopia-php/database 6.0.0 src/Database/PDO.php:23-37, which only adds ERRMODE
 * when missing). Not persistent; emulated prepares; every fetched value a string.
 */
function appwrite_pdo(array $db): PDO
{
    $dsn = ($db['driver'] ?? 'mysql') === 'pgsql'
        // The Postgres adapter's DSN (registers.php:313): PgBouncer on loopback in front of it.
        ? "pgsql:host={$db['host']};port={$db['port']};dbname={$db['schema']}"
        : "mysql:host={$db['host']};port={$db['port']};dbname={$db['schema']};charset=utf8mb4";
    return new PDO($dsn, $db['user'], $db['password'], [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_TIMEOUT => 3,
        PDO::ATTR_PERSISTENT => false,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        PDO::ATTR_EMULATE_PREPARES => true,
        PDO::ATTR_STRINGIFY_FETCHES => true,
    ]);
}
