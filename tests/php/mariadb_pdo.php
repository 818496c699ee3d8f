<?php
/**
 * A database pool's PDO (appwrite 1.9.6 app/init/registers.php:293-300) against MariaDB:
 * the attributes are in force and behave as utopia-php/database 6.0.0 relies on.
 */

require __DIR__ . '/lib.php';

$config = config();
$db = $config['db'];
$table = $config['table'];

$pdo = appwrite_pdo($db);
emit('connected', [
    'persistent' => (bool) $pdo->getAttribute(PDO::ATTR_PERSISTENT),
    'emulate_prepares' => (bool) $pdo->getAttribute(PDO::ATTR_EMULATE_PREPARES),
    'charset' => $pdo->query('SELECT @@character_set_client AS c')->fetch()['c'],
    'version' => $pdo->query('SELECT VERSION() AS v')->fetch()['v'],
]);

$pdo->exec("CREATE TABLE `{$table}` (`_id` INT AUTO_INCREMENT PRIMARY KEY, `name` VARCHAR(255), `n` INT)");
$before = $pdo->query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'")->fetch()['Value'];
$insert = $pdo->prepare("INSERT INTO `{$table}` (`name`, `n`) VALUES (:name, :n)");
foreach ([['ä\'"\\', 1], ['b', 2]] as [$name, $n]) {
    $insert->bindValue(':name', $name);
    $insert->bindValue(':n', $n, PDO::PARAM_INT);
    $insert->execute();
}
$select = $pdo->prepare("SELECT `_id`, `name`, `n` FROM `{$table}` WHERE `n` >= ? ORDER BY `n`");
$select->execute([1]);
$rows = $select->fetchAll();
$after = $pdo->query("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'")->fetch()['Value'];
emit('rows', ['rows' => $rows, 'server_prepares' => (int) $after - (int) $before]);

// A transaction rolled back leaves nothing behind (utopia-php/database wraps writes in them).
$pdo->beginTransaction();
$pdo->exec("INSERT INTO `{$table}` (`name`, `n`) VALUES ('gone', 3)");
$pdo->rollBack();
emit('rolled_back', ['count' => $pdo->query("SELECT COUNT(*) AS c FROM `{$table}`")->fetch()['c']]);

// ERRMODE_EXCEPTION: a bad statement throws, with the server's code and message.
try {
    $pdo->query('SELECT * FROM `no_such_table_here`');
    emit('bad_sql', ['thrown' => false]);
} catch (PDOException $error) {
    emit('bad_sql', ['thrown' => true, 'code' => $error->errorInfo[1] ?? null, 'message' => $error->getMessage()]);
}
$pdo->exec("DROP TABLE `{$table}`");
