/**
 * Which pod of a deployment or service to forward to: kubectl's choice, so that `kubemux` and
 * `kubectl port-forward deploy/web` end up on the same pod.
 *
 * kubectl (polymorphichelpers.attachablePodForObject → GetFirstPod) lists the pods the selector
 * matches and sorts them with `sort.Reverse(podutils.ActivePods)`: ActivePods orders pods from
 * "best to delete" to "best to keep" for a ReplicaSet scaling down, and its reverse puts the pod
 * most worth keeping first. Reading ActivePods backwards, the first pod is the one that is
 *
 *   1. assigned to a node, before an unassigned one;
 *   2. Running, before Unknown, before Pending (every other phase counts as Pending);
 *   3. ready, before not ready;
 *   4. not being deleted, before a terminating one;
 *   5. (both terminating) deleted later, before deleted earlier;
 *   6. (both ready) ready for longer, before ready more recently (a missing time last);
 *   7. restarted fewer times (its most-restarted container), then fewer sidecar restarts;
 *   8. older, before newer (a missing creation time last).
 *
 * Pods equal on all eight keep the list's order (the API server lists by name). Go's sort.Sort is
 * not stable in general, but it sorts up to 12 elements by insertion, which is, so for the
 * replica counts port-forwarding meets the two agree.
 */
import type { PodSummary } from './api-objects.js';

const PHASE_RANK: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Go's zero time sorts after every real one here: true when `a` is after `b`, or when either is
 * missing and it is `a` (podutils' afterOrZero).
 */
function afterOrZero(a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return a === undefined;
  return a > b;
}

/** podutils.ActivePods' Less: whether `a` is a better pod to delete than `b`. */
function betterToDelete(a: PodSummary, b: PodSummary): boolean {
  if (a.nodeName !== b.nodeName && (a.nodeName === '' || b.nodeName === '')) return a.nodeName === '';
  const rankA = PHASE_RANK[a.phase] ?? 0;
  const rankB = PHASE_RANK[b.phase] ?? 0;
  if (rankA !== rankB) return rankA < rankB;
  if (a.ready !== b.ready) return !a.ready;
  const deletingA = a.deletingSinceMs !== undefined;
  const deletingB = b.deletingSinceMs !== undefined;
  if (deletingA !== deletingB) return deletingA;
  if (deletingA && deletingB && a.deletingSinceMs !== b.deletingSinceMs) return a.deletingSinceMs! < b.deletingSinceMs!;
  if (a.ready && b.ready && a.readySinceMs !== b.readySinceMs) return afterOrZero(a.readySinceMs, b.readySinceMs);
  if (a.maxRestarts !== b.maxRestarts) return a.maxRestarts > b.maxRestarts;
  if (a.maxSidecarRestarts !== b.maxSidecarRestarts) return a.maxSidecarRestarts > b.maxSidecarRestarts;
  if (a.createdMs !== b.createdMs) return afterOrZero(a.createdMs, b.createdMs);
  return false;
}

/**
 * Orders pods as kubectl port-forward prefers them (see the file comment): negative when `a` is
 * the better pod to forward to, positive when `b` is, 0 when kubectl cannot tell them apart. For
 * `Array.prototype.sort`, which is stable, so equal pods keep the list's order.
 */
export function comparePodsForForwarding(a: PodSummary, b: PodSummary): number {
  if (betterToDelete(b, a)) return -1;
  if (betterToDelete(a, b)) return 1;
  return 0;
}

/** The pod kubectl would forward to among `pods` (the first of the best), or undefined for none. */
export function choosePod<P extends PodSummary>(pods: readonly P[]): P | undefined {
  let best: P | undefined;
  for (const pod of pods) if (best === undefined || comparePodsForForwarding(pod, best) < 0) best = pod;
  return best;
}
