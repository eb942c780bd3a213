import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, onTokenRefused, token, UNSENDABLE_TOKEN } from './api';
import { ErrorBox } from './components/status';
import { href, useRoute } from './router';
import { CallScreen } from './screens/call';
import { CallTestScreen } from './screens/call-test';
import { CallsScreen } from './screens/calls';
import { PoliciesScreen } from './screens/policies';
import { QueueScreen } from './screens/queue';
import type { Policies } from './types';
import './app.css';

const SCREENS: [string, string][] = [
  ['calls', 'Calls'],
  ['call-test', 'Call Test'],
  ['policies', 'Policies'],
  ['queue', 'Queue'],
];

/**
 * The console: asks for the API token once when the API wants one (kept for this tab only),
 * then shows the screens. Every screen reads the API; nothing else is contacted.
 */
function App() {
  const route = useRoute();
  const [policies, setPolicies] = useState<Policies>();
  const [gate, setGate] = useState<'checking' | 'token' | 'open'>('checking');
  const [error, setError] = useState<unknown>();

  const enter = useCallback(async () => {
    try {
      setPolicies(await api<Policies>('/v1/policies'));
      setGate('open');
      setError(undefined);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        if (token.get()) setError(e.code === UNSENDABLE_TOKEN ? e : new ApiError(401, 'CALLHOOK_UNAUTHORIZED', 'that token was refused: check CALLHOOK_API_TOKEN'));
        token.clear();
        setGate('token');
      } else setError(e);
    }
  }, []);
  useEffect(() => {
    void enter();
  }, [enter]);
  // A token refused after sign-in (CALLHOOK_API_TOKEN was changed): ask for it again. (At sign-in, enter() says why.)
  const open = useRef(false);
  open.current = gate === 'open';
  useEffect(() => {
    onTokenRefused(() => {
      if (!open.current) return;
      token.clear();
      setError(new ApiError(401, 'CALLHOOK_UNAUTHORIZED', 'the API no longer takes the token this tab had (was CALLHOOK_API_TOKEN changed?): enter it again'));
      setGate('token');
    });
  }, []);

  if (gate === 'token') {
    const onSubmit = (event: Event) => {
      event.preventDefault();
      const value = String(new FormData(event.currentTarget as HTMLFormElement).get('token') ?? '').trim();
      if (value) {
        token.set(value);
        void enter();
      }
    };
    return (
      <main class="gate">
        <h1>callhook</h1>
        <form onSubmit={onSubmit} aria-label="Sign in with the API token">
          <label>
            API token
            <input name="token" type="password" autoComplete="off" required autoFocus />
          </label>
          <p class="muted">The API needs its token (CALLHOOK_API_TOKEN). It is kept for this browser tab only.</p>
          <button type="submit">Open the console</button>
        </form>
        <ErrorBox error={error} />
      </main>
    );
  }
  if (gate === 'checking') return error ? <ErrorBox error={error} /> : <p class="loading">Connecting…</p>;

  const [screen = 'calls', id] = route.path;
  return (
    <>
      <header>
        <a class="brand" href={href(['calls'])}>
          callhook
        </a>
        <nav aria-label="Screens">
          {SCREENS.map(([name, label]) => (
            <a key={name} href={href([name])} aria-current={screen === name ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        {token.get() && (
          <button
            class="link"
            onClick={() => {
              token.clear();
              setGate('token');
            }}
          >
            Forget token
          </button>
        )}
      </header>
      <main>
        {screen === 'calls' && id ? <CallScreen callId={id} /> : null}
        {screen === 'calls' && !id ? <CallsScreen route={route} policies={policies} /> : null}
        {screen === 'call-test' && <CallTestScreen policies={policies} />}
        {screen === 'policies' && <PoliciesScreen policies={policies} />}
        {screen === 'queue' && <QueueScreen />}
        {!SCREENS.some(([name]) => name === screen) && <p>No such screen. Try <a href={href(['calls'])}>Calls</a>.</p>}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
