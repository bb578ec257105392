import { StrictMode } from 'react';
import { z } from 'zod';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { connect } from './api.ts';
import './styles.css';
import './daily.css';

// zod would probe `new Function` for speed; the CSP forbids eval, so never try.
z.config({ jitless: true });

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App connection={connect()} />
    </StrictMode>,
  );
}
