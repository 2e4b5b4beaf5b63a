/** Polls until the check passes (returns truthy or resolves truthy); fails with the message after `ms`. */
export async function waitFor<T>(check: () => T | Promise<T>, ms = 5000, message = 'condition not met'): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`waitFor: ${message} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
