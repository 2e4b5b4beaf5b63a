// Started by `npm start` (or any npm script), the app lives as long as npm does: when npm is killed without
// passing a signal on, the app is adopted by another process, and stops as if it had been sent SIGTERM.

/** Calls onExit once when the process that started this one has gone (checked twice a second). */
export function onParentExit(onExit: () => void, intervalMs = 500): void {
  const parent = process.ppid;
  if (parent <= 1) return; // started by init (systemd, a container's first process): there is nothing to outlive
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onExit();
  }, intervalMs);
  timer.unref();
}
