/**
 * The render budget: what the `{{#each}}` loops of the renders in progress may still write, in
 * UTF-16 units (see renderWithin in engine.ts), less STEP_COST for each step of any loop and
 * the text helpers read and make inside loops. A loop over call data multiplies a template's
 * work (a 240 KB event made a 50 MB body; two nested loops over 5,000 items that wrote nothing
 * blocked the event loop for 4 s; `{{#if (json @root.event)}}` in a loop over 5,000 items of a
 * 200 KB event, 1.7 s): it stops at the limit instead of doing all of it first.
 */
export const loops: {
  budget: { left: number; over: () => Error } | undefined;
  /** True inside a counted loop: a nested loop's output is part of its outer one's, taken once. */
  counting: boolean;
} = { budget: undefined, counting: false };

/**
 * What one step of a loop costs, in units of text: a step (about 0.2 us) costs as much CPU as
 * writing far more than 8 characters, so at 1 MiB a render takes at most 131,072 steps (about
 * 30 ms), where one unit a step allowed a million (over 200 ms, for each of an app's renders).
 */
export const STEP_COST = 8;

/**
 * Takes `units` from the budget when inside a counted loop (outside loops a template's work is
 * bounded by its own size); nothing otherwise.
 * @throws the budget's error once it is spent
 */
export function chargeInLoop(units: number): void {
  const { budget } = loops;
  if (!loops.counting || !budget) return;
  budget.left -= units;
  if (budget.left < 0) throw budget.over();
}
