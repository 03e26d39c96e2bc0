/**
 * Positions in a parsed YAML document, both ways: the node a config path names (to put a
 * schema error on its line), and the config path of the node at an offset (to name the key
 * a YAML error sits on).
 */
import { type Alias, type Document, isMap, isScalar, isSeq, type Node, visit } from 'yaml';

export type PathKey = string | number;

/** Finds the YAML node at `path`, or the deepest existing ancestor; `keyNode` prefers a map key. */
export function locateNode(root: Node | null, path: readonly PathKey[], keyNode = false): Node | null {
  let node: Node | null = root;
  for (const [depth, segment] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) return node;
      const isLast = depth === path.length - 1;
      if (isLast && keyNode) return pair.key as Node;
      const value = pair.value as Node | null;
      if (!value) return pair.key as Node;
      node = value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

function holds(node: unknown, offset: number): node is Node {
  const range = (node as Node | null)?.range;
  return (
    range !== undefined && range !== null && range[0] <= offset && offset < Math.max(range[2], range[0] + 1)
  );
}

/**
 * The config path of the deepest node holding `offset`: a map key names its own entry
 * (a duplicate `port` under `api` is `api.port`). Empty outside every node.
 */
export function pathAt(root: Node | null, offset: number): PathKey[] {
  const path: PathKey[] = [];
  let node: unknown = root;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => holds(p.key, offset) || holds(p.value, offset));
      if (!pair || !isScalar(pair.key)) return path;
      path.push(String(pair.key.value));
      if (holds(pair.key, offset)) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => holds(item, offset));
      if (index < 0) return path;
      path.push(index);
      node = node.items[index];
    } else {
      return path;
    }
  }
}

/** The first alias whose anchor is not defined before it (toJS throws a bare ReferenceError). */
export function unresolvedAlias(doc: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}
