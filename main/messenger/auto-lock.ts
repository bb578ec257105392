// Auto-lock: the vault locks after the settings' minutes without an API call (0: never).
export class AutoLock {
  private timer: NodeJS.Timeout | undefined;

  /** `lock` runs the lock (in the facade's lifecycle queue). */
  constructor(private readonly lock: () => Promise<void>) {}

  /** Restarts the countdown (every API call); it runs only while the vault is unlocked. */
  restart(minutes: number, unlocked: boolean): void {
    this.stop();
    if (minutes > 0 && unlocked) {
      this.timer = setTimeout(() => void this.lock().catch(() => undefined), minutes * 60_000);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
