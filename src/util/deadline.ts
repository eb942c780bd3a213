/**
 * Less time than this before a deadline counts as none. A request sent then could not be
 * answered in time: it would be cancelled at once, after the receiver got it. It also covers the
 * few ms by which a timer may fire before Date.now() reaches its deadline (Node runs timers on
 * the event loop's clock, read once per turn).
 */
const DEADLINE_SLACK_MS = 10;

/** Whether a deadline (epoch ms) has come, or is closer than DEADLINE_SLACK_MS. */
export function deadlineReached(deadlineAt: number, now = Date.now()): boolean {
  return now >= deadlineAt - DEADLINE_SLACK_MS;
}
