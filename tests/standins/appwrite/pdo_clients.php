<?php
/**
 * Appwrite-shaped PostgreSQL clients: N processes, each opening one PDO connection exactly as
 * Appwrite 1.9.6 does (app/init/registers.php:312-320) and keeping it, like a pool that never
 * shrinks, then running transactions shaped like utopia-php/database 6.0.0's Postgres adapter:
 * the ROLLBACK cleanup (Postgres.php:46), BEGIN, SET LOCAL statement_timeout (line 110), an
 * INSERT and a SELECT through emulated prepares, optional hold, COMMIT.
 *
 *   PDO_PASS=... php pdo_clients.php --host H --port P --dbname D --user U \
 *       [--clients 34] [--transactions 5] [--hold-ms 50] [--stagger-ms 0] [--setup]
 *
 * The password comes from the environment only (never argv). Processes are forked before any
 * connection is opened. All clients wait at a barrier once connected (or refused), so every
 * connection is open at the same time. Prints one JSON object: connected, refused (messages),
 * transactions committed, errors, latencies (p50), elapsed seconds, and the window from the
 * first transaction begun to the last ended.
 */

$options = getopt('', ['host:', 'port:', 'dbname:', 'user:', 'clients:', 'transactions:',
                       'hold-ms:', 'stagger-ms:', 'setup']);
foreach (['host', 'port', 'dbname', 'user'] as $required) {
    if (!isset($options[$required])) {
        fwrite(STDERR, "pdo_clients.php: --$required is required\n");
        exit(2);
    }
}
$host = $options['host'];
$port = (int) $options['port'];
$dbname = $options['dbname'];
$user = $options['user'];
$password = (string) getenv('PDO_PASS');
$clients = (int) ($options['clients'] ?? 34);
$transactions = (int) ($options['transactions'] ?? 5);
$holdSeconds = ((int) ($options['hold-ms'] ?? 50)) / 1000;
// Client i connects i × stagger after the start: one at a time, so the server's own limit (not
// a burst of half-started backends) decides who is refused.
$stagger = ((int) ($options['stagger-ms'] ?? 0)) / 1000;

function appwrite_pdo(string $host, int $port, string $dbname, string $user, string $password): PDO
{
    // As app/init/registers.php:313-320 at 1.9.6 (Utopia\Database\PDO wraps this \PDO).
    return new PDO("pgsql:host={$host};port={$port};dbname={$dbname};connect_timeout=3", $user, $password, array(
        \PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION,
        \PDO::ATTR_TIMEOUT => 3, // Seconds
        \PDO::ATTR_PERSISTENT => false,
        \PDO::ATTR_DEFAULT_FETCH_MODE => \PDO::FETCH_ASSOC,
        \PDO::ATTR_EMULATE_PREPARES => true,
        \PDO::ATTR_STRINGIFY_FETCHES => true
    ));
}

if (isset($options['setup'])) {
    $pdo = appwrite_pdo($host, $port, $dbname, $user, $password);
    $pdo->exec('CREATE TABLE IF NOT EXISTS standin_docs (id BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL, body TEXT NOT NULL)');
    $pdo = null; // closed before forking: children never share a connection
}

$barrier = sys_get_temp_dir() . '/pdo-clients-' . getmypid() . '-' . bin2hex(random_bytes(4));
mkdir($barrier, 0700);
$results = $barrier . '/results';
mkdir($results, 0700);

function wait_at_barrier(string $barrier, int $clients, int $index, float $timeout): void
{
    touch("{$barrier}/ready-{$index}");
    $deadline = microtime(true) + $timeout;
    while (count(glob("{$barrier}/ready-*")) < $clients && microtime(true) < $deadline) {
        usleep(5000);
    }
}

function client(int $index, array $args): array
{
    [$host, $port, $dbname, $user, $password, $clients, $transactions, $hold, $barrier, $run, $stagger] = $args;
    usleep((int) ($index * $stagger * 1000000));
    $out = ['connected' => false, 'refused' => null, 'committed' => 0, 'errors' => [], 'latencies' => [],
            'first' => null, 'last' => null];
    try {
        $pdo = appwrite_pdo($host, $port, $dbname, $user, $password);
        $out['connected'] = true;
    } catch (PDOException $e) {
        $out['refused'] = $e->getMessage();
    }
    wait_at_barrier($barrier, $clients, $index, 30.0 + $clients * $stagger);
    if (!$out['connected']) {
        return $out;
    }
    $out['first'] = microtime(true);
    for ($t = 0; $t < $transactions; $t++) {
        $started = microtime(true);
        try {
            if (!$pdo->inTransaction()) {
                $pdo->prepare('ROLLBACK')->execute(); // Postgres.php:46: cleanup, a no-op here
            }
            $pdo->beginTransaction();
            $pdo->exec("SET LOCAL statement_timeout = '15000ms'");
            $uid = "{$run}-client{$index}-{$t}";
            $insert = $pdo->prepare('INSERT INTO standin_docs (uid, body) VALUES (:uid, :body) RETURNING id');
            $insert->bindValue(':uid', $uid);
            $insert->bindValue(':body', str_repeat('x', 200));
            $insert->execute();
            $id = $insert->fetch()['id'];
            $select = $pdo->prepare('SELECT id, uid FROM standin_docs WHERE uid = :uid');
            $select->bindValue(':uid', $uid);
            $select->execute();
            $row = $select->fetch();
            if ($row['id'] !== $id) {
                throw new RuntimeException("read back {$row['id']}, wrote {$id}");
            }
            if ($hold > 0) {
                $pdo->query('SELECT pg_sleep(' . sprintf('%.3f', $hold) . ')')->fetch();
            }
            $pdo->commit();
            $out['committed']++;
            $out['latencies'][] = microtime(true) - $started;
        } catch (Throwable $e) {
            $out['errors'][] = $e->getMessage();
            if ($pdo->inTransaction()) {
                try { $pdo->rollBack(); } catch (Throwable $ignored) {}
            }
        }
    }
    $out['last'] = microtime(true);
    $pdo = null;
    return $out;
}

$run = basename($barrier);
$args = [$host, $port, $dbname, $user, $password, $clients, $transactions, $holdSeconds, $barrier, $run, $stagger];
$started = microtime(true);
$children = [];
for ($i = 0; $i < $clients; $i++) {
    $pid = pcntl_fork();
    if ($pid === -1) {
        fwrite(STDERR, "pdo_clients.php: fork failed\n");
        exit(1);
    }
    if ($pid === 0) {
        file_put_contents("{$results}/{$i}.json", json_encode(client($i, $args)));
        exit(0);
    }
    $children[] = $pid;
}
foreach ($children as $pid) {
    pcntl_waitpid($pid, $status);
}
$elapsed = microtime(true) - $started;

$summary = ['clients' => $clients, 'connected' => 0, 'refused' => [], 'committed' => 0,
            'errors' => [], 'latencies' => [], 'elapsed' => $elapsed, 'window' => null];
$first = null;
$last = null;
for ($i = 0; $i < $clients; $i++) {
    $file = "{$results}/{$i}.json";
    $one = is_file($file) ? json_decode(file_get_contents($file), true) : null;
    if ($one === null) {
        $summary['errors'][] = "client {$i} reported nothing";
        continue;
    }
    $summary['connected'] += $one['connected'] ? 1 : 0;
    if ($one['refused'] !== null) {
        $summary['refused'][] = $one['refused'];
    }
    $summary['committed'] += $one['committed'];
    $summary['errors'] = array_merge($summary['errors'], $one['errors']);
    $summary['latencies'] = array_merge($summary['latencies'], $one['latencies']);
    if ($one['first'] !== null) {
        $first = $first === null ? $one['first'] : min($first, $one['first']);
        $last = $last === null ? $one['last'] : max($last, $one['last']);
    }
    unlink($file);
}
foreach (glob("{$barrier}/ready-*") as $file) {
    unlink($file);
}
rmdir($results);
rmdir($barrier);
// From the first transaction begun to the last one ended, all clients together.
$summary['window'] = $first === null ? null : $last - $first;
sort($summary['latencies']);
$count = count($summary['latencies']);
$summary['p50'] = $count ? $summary['latencies'][intdiv($count, 2)] : null;
echo json_encode($summary), "\n";
