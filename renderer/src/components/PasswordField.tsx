import { useId } from 'react';
// The same estimate main and the CLI enforce (shared/api/password-policy.ts).
import { estimateStrength } from '../../../shared/api/password-policy.ts';

export function PasswordField({
  label,
  value,
  onChange,
  autoComplete,
  showStrength = false,
  autoFocus = false,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  autoComplete: 'current-password' | 'new-password';
  showStrength?: boolean;
  autoFocus?: boolean;
}) {
  const id = useId();
  const strength = estimateStrength(value);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="password"
        value={value}
        autoComplete={autoComplete}
        autoFocus={autoFocus}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={showStrength ? `${id}-strength` : undefined}
      />
      {showStrength ? (
        <div id={`${id}-strength`} className="strength">
          <meter min={0} max={4} low={2} high={3} optimum={4} value={strength.score} aria-label="Password strength" />
          <span className={`strength-label score-${strength.score}`}>
            {strength.label}
            {value ? ` (about ${strength.bits} bits)` : ''}
          </span>
          <span className="hint">{strength.hint}</span>
        </div>
      ) : null}
    </div>
  );
}
