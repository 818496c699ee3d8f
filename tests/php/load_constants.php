<?php
/**
 * Loads an Appwrite app/init/constants.php outside Appwrite, under real PHP.
 *
 * Utopia\System\System is stood in by a class with utopia-php/system 0.10.2's own getEnv rule
 * (src/System/System.php:698-701: `getenv($name) ?: $default`). Every other class the file
 * names (Appwrite's enums and Specification, read only for constant values) is made up on
 * demand by an autoloader from the `Class::CASE` references found in the file itself.
 */

namespace Utopia\System {
    class System
    {
        public static function getEnv(string $name, ?string $default = null): ?string
        {
            return getenv($name) ?: $default;
        }
    }
}

namespace {
    function load_appwrite_constants(string $file): void
    {
        $source = file_get_contents($file);
        if ($source === false) {
            throw new RuntimeException("cannot read $file");
        }
        spl_autoload_register(function (string $class) use ($source): void {
            $cut = strrpos($class, '\\');
            $namespace = $cut === false ? '' : substr($class, 0, $cut);
            $short = $cut === false ? $class : substr($class, $cut + 1);
            preg_match_all('/\b' . preg_quote($short, '/') . '::([A-Z0-9_]+)(->value)?/', $source, $found, PREG_SET_ORDER);
            $names = [];
            $enum = false;
            foreach ($found as $match) {
                $names[$match[1]] = true;
                $enum = $enum || !empty($match[2]);
            }
            $body = '';
            foreach (array_keys($names) as $name) {
                $body .= $enum ? "case $name = '$name'; " : "const $name = '$name'; ";
            }
            $kind = $enum ? "enum $short: string" : "class $short";
            eval(($namespace === '' ? '' : "namespace $namespace; ") . "$kind { $body }");
        });
        require $file;
    }
}
