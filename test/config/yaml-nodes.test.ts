/**
 * Errors of the YAML document itself (syntax, duplicate keys, aliases) come back as issues
 * with file, path and line like any other, never as an exception.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayFileSchema, parseConfigText } from '../../src/config/index.js';

function issuesOf(text: string): string[] {
  const result = parseConfigText(text, 'gw.yaml', gatewayFileSchema, {});
  return result.ok ? [] : result.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe('YAML document errors', () => {
  it('an alias to an undefined anchor is an issue at the alias, not an exception', () => {
    assert.deepEqual(issuesOf('api:\n  host: 127.0.0.1\n  port: *missing\n'), [
      'gw.yaml:3:9 api.port: YAML: Unresolved alias (the anchor must be set before the alias): missing',
    ]);
  });

  it('an alias bomb is an issue at the document, not an exception', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const name of ['b', 'c', 'd', 'e']) {
      const previous = String.fromCharCode(name.charCodeAt(0) - 1);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const [issue, ...more] = issuesOf(`${levels.join('\n')}\n`);
    assert.deepEqual(more, []);
    assert.match(issue ?? '', /^gw\.yaml:1:1 : YAML: Excessive alias count/);
  });

  it('a duplicate key is named by its path at its line', () => {
    assert.deepEqual(issuesOf('api:\n  host: 127.0.0.1\n  port: 8080\n  port: 8081\n'), [
      'gw.yaml:4:3 api.port: YAML: Map keys must be unique',
    ]);
    assert.deepEqual(issuesOf('routes:\n  - match: "*"\n    match: "+1*"\n'), [
      'gw.yaml:3:5 routes[0].match: YAML: Map keys must be unique',
    ]);
  });

  it('a syntax error inside a value is named by the path of that value', () => {
    assert.deepEqual(issuesOf('listen:\n  - transport: udp\napi:\n  host: @localhost\n'), [
      'gw.yaml:4:9 api.host: YAML: Plain value cannot start with reserved character @',
    ]);
  });
});
