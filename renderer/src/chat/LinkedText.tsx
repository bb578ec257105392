// A message's text with its http(s) links as links that are never followed directly: a click
// hands the address to `onLink`, which shows it in full first (screens/MessageDialogs.tsx
// LinkDialog). Used by 1:1 and group bubbles alike. A middle-click fires auxclick, not click: it
// goes the same way (in the app, where Auxclick is off, main's window-open handler refuses it).
import type { MouseEvent } from 'react';
import { splitLinks } from '../daily.ts';

export function LinkedText({ text, onLink }: { text: string; onLink: (url: string) => void }) {
  const open = (e: MouseEvent<HTMLAnchorElement>, href: string) => {
    e.preventDefault();
    onLink(href);
  };
  return (
    <p className="text">
      {splitLinks(text).map((part, i) =>
        part.kind === 'text' ? (
          part.text
        ) : (
          <a key={i} href={part.href} target="_blank" rel="noopener noreferrer" onClick={(e) => open(e, part.href)}
            onAuxClick={(e) => open(e, part.href)}
          >
            {part.text}
          </a>
        ),
      )}
    </p>
  );
}
