/** The function that does nothing: a listener that swallows an event, a callback nobody needs. */
export function noop(): void {}
