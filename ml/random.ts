/** Seeded randomness helpers; Math.random cannot be seeded, and runs must be reproducible. */
import seedrandom from 'seedrandom';

export type Rng = () => number;

export function seededRng(seed: string | number): Rng {
  return seedrandom(String(seed));
}

/** A seeded generator whose state can be saved and restored (training checkpoints). */
export type StatefulRng = seedrandom.StatefulPRNG<seedrandom.State.Arc4>;
export type RngState = seedrandom.State.Arc4;

export function statefulRng(seed: string | number, state?: RngState): StatefulRng {
  return seedrandom(String(seed), { state: state ?? true });
}

/** Fisher-Yates shuffle into a new array. */
export function shuffled<T>(values: readonly T[], rng: Rng): T[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
