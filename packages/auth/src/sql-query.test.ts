import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSqlConf } from './sql-conf.js';
import { compileQuery, queryValues } from './sql-query.js';
import { parseTemplate, variableValues } from './variables.js';

test('Dovecot queries become parameterized: quotes in a user name stay data', () => {
  const query = compileQuery("SELECT password FROM users WHERE userid = '%n' AND domain = '%d' AND note <> 'it''s 100%%'", 'password_query');
  assert.equal(query.text, "SELECT password FROM users WHERE userid = $1 AND domain = $2 AND note <> 'it''s 100%'");
  assert.deepEqual(queryValues(query, variableValues({ user: "x' OR '1'='1@example.com", service: 'imap' })), ["x' OR '1'='1", 'example.com']);
});

test('variables inside a longer literal are concatenated parameters; unquoted ones are parameters too', () => {
  const query = compileQuery("SELECT 1 FROM t WHERE login = '%n@%Ld' AND uid = %{user} AND s = '%s'", 'q');
  assert.equal(query.text, "SELECT 1 FROM t WHERE login = ($1::text || '@' || $2::text) AND uid = $3 AND s = $4");
  assert.deepEqual(queryValues(query, variableValues({ user: 'Bob@EXAMPLE.com', service: 'imap' })), ['Bob', 'example.com', 'Bob@EXAMPLE.com', 'imap']);
});

test('quoted identifiers and E-strings are left alone; variables there are refused', () => {
  assert.equal(compileQuery('SELECT "pass word" FROM t WHERE x = E\'a\\\'b\'', 'q').text, 'SELECT "pass word" FROM t WHERE x = E\'a\\\'b\'');
  assert.throws(() => compileQuery("SELECT 1 WHERE x = E'%u'", 'q'), /E'…' strings/);
  assert.throws(() => compileQuery('SELECT "%u" FROM t', 'q'), /cannot name a table/);
  assert.throws(() => compileQuery("SELECT 1 WHERE x = '%u", 'q'), /not closed/);
  assert.throws(() => compileQuery("SELECT 1 WHERE x LIKE 'a%'", 'q'), /lone '%'/);
  assert.throws(() => compileQuery("SELECT 1 WHERE x = '%q'", 'q'), /unknown variable '%q'/);
});

test('dovecot-sql.conf.ext: continued lines, comments, quoted values, a libpq connect string', () => {
  const warnings: string[] = [];
  const conf = parseSqlConf(
    [
      '# Loft reads this file unchanged',
      'driver = pgsql',
      "connect = host=/run/postgresql port=5433 dbname=mail user=dovecot password='it''s a \\'secret' maxconns=3 sslmode=disable",
      'default_pass_scheme = SHA512-CRYPT',
      'password_query = \\',
      '  SELECT username, domain, password \\',
      "  FROM users WHERE username = '%n' AND domain = '%d'",
      'user_query = "SELECT home, uid, gid FROM users WHERE userid = \'%u\'"',
      'iterate_query = SELECT username, domain FROM users',
      'frobnicate = yes',
    ].join('\n'),
    '/etc/loft/sql.conf',
    (message) => warnings.push(message),
  );
  assert.deepEqual(conf.connect, { host: '/run/postgresql', port: 5433, database: 'mail', user: 'dovecot', password: "it's a 'secret", maxConnections: 3, sslmode: 'disable' });
  assert.equal(conf.defaultPassScheme, 'SHA512-CRYPT');
  assert.equal(conf.passwordQuery, "SELECT username, domain, password  FROM users WHERE username = '%n' AND domain = '%d'");
  assert.equal(conf.userQuery, "SELECT home, uid, gid FROM users WHERE userid = '%u'");
  assert.equal(conf.iterateQuery, 'SELECT username, domain FROM users');
  assert.deepEqual(warnings, ["sql: /etc/loft/sql.conf:10: unknown setting 'frobnicate' ignored"]);
  assert.throws(() => parseSqlConf('driver = mysql\n', '/x', () => undefined), /driver = mysql is not supported/);
});

test('%w (the password) is allowed in password_query only, never in a path or another query', () => {
  assert.equal(compileQuery("SELECT 1 WHERE pw = crypt('%w', pw)", 'password_query', true).text, 'SELECT 1 WHERE pw = crypt($1, pw)');
  assert.throws(() => compileQuery("SELECT 1 WHERE pw = '%w'", 'user_query'), /only allowed in an SQL password_query/);
  assert.throws(() => parseTemplate('/etc/loft/%{password}/passwd'), /only allowed in an SQL password_query/);
});
