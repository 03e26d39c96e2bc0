/**
 * RFC 2782's order of servers: by priority, lowest first, and within one priority a weighted
 * random draw without replacement, so each server gets a share of first tries in proportion to
 * its weight. When every remaining weight is 0, each has an equal chance.
 */
export function priorityWeightedOrder<T extends { priority: number; weight: number }>(
  items: readonly T[],
  random: () => number,
): T[] {
  const byPriority = new Map<number, T[]>();
  for (const item of items) {
    const group = byPriority.get(item.priority) ?? [];
    group.push(item);
    byPriority.set(item.priority, group);
  }
  const priorities = [...byPriority.keys()].sort((a, b) => a - b);
  return priorities.flatMap((priority) => weightedShuffle(byPriority.get(priority) ?? [], random));
}

function weightedShuffle<T extends { weight: number }>(items: T[], random: () => number): T[] {
  const remaining = [...items];
  const ordered: T[] = [];
  while (remaining.length > 0) {
    const total = remaining.reduce((sum, item) => sum + item.weight, 0);
    let pick = remaining.length - 1;
    if (total > 0) {
      let target = random() * total;
      pick = remaining.findIndex((item) => {
        target -= item.weight;
        return target < 0;
      });
      if (pick < 0) pick = remaining.length - 1;
    } else {
      pick = Math.min(remaining.length - 1, Math.floor(random() * remaining.length));
    }
    const [chosen] = remaining.splice(pick, 1);
    if (chosen) ordered.push(chosen);
  }
  return ordered;
}
