import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { AuthProvider, restoreSession } from './state/auth';
import './styles.css';

const root = createRoot(document.getElementById('root') as HTMLElement);
void restoreSession().then((me) =>
  root.render(
    <StrictMode>
      <AuthProvider initial={me}>
        <App />
      </AuthProvider>
    </StrictMode>,
  ),
);
