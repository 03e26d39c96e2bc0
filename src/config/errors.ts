/** One problem in a config file, located by YAML path and 1-based line:column. */
export interface ConfigIssue {
  file: string;
  /** e.g. `outbound.gateways[1].port`; empty for the document itself. */
  path: string;
  line: number;
  col: number;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path ? ` ${issue.path}:` : '';
  return `${issue.file}:${issue.line}:${issue.col}${where} ${issue.message}`;
}

/** Thrown when a config does not validate; lists every problem found, not only the first. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const count = `${issues.length} config error${issues.length === 1 ? '' : 's'}`;
    super([count, ...issues.map(formatIssue)].join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `['outbound', 'gateways', 1, 'port']` → `outbound.gateways[1].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text ? `.${String(key)}` : String(key);
  }
  return text;
}
