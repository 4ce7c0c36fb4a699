/** "Did you mean" support: edit distance and the nearest candidate within a threshold. */

/**
 * Damerau-Levenshtein distance (optimal string alignment): insertions, deletions,
 * substitutions and swaps of two neighbours each cost 1, so `log_pth` is 1 from `log_path`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Largest distance still worth suggesting: short names tolerate 2 typos, long ones a third of their length. */
export function suggestionThreshold(name: string): number {
  return Math.max(2, Math.floor(name.length / 3));
}

export interface Nearest<T> { candidate: T; distance: number }

/** The candidate whose `nameOf` is closest to `name` within the threshold; the first one wins a tie. */
export function nearest<T>(name: string, candidates: Iterable<T>, nameOf: (candidate: T) => string): Nearest<T> | undefined {
  const threshold = suggestionThreshold(name);
  let best: Nearest<T> | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, nameOf(candidate));
    if (distance <= threshold && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best;
}
