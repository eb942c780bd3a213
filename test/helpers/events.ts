import { randomUUID } from 'node:crypto';
import type { CallEvent } from '../../src/events/schema';

/** A valid call event; override any field (`makeEvent({ calling_name: "O'Brien" })`). */
export function makeEvent(overrides: Partial<CallEvent> & Record<string, unknown> = {}): CallEvent {
  return {
    call_id: `call-${randomUUID()}`,
    calling_number: '+15551234567',
    called_number: '1000',
    calling_name: 'Jane Caller',
    calling_devicename: 'SEP001122334455',
    trigger_point_type: 'post_call',
    timestamp: '2026-11-27T10:00:00.000Z',
    ...overrides,
  } as CallEvent;
}

/** Call data that has broken URLs, headers and JSON bodies in other systems. */
export const HOSTILE_NAMES = [
  `O'Brien & Sons`,
  'quote " and \\ backslash',
  '../../admin?x=1#frag',
  'line\r\nX-Injected: yes',
  'Zoë 李 🙂',
  '{{ event.call_id }}',
  '<script>alert(1)</script>',
];
