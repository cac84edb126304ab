import type { PipelineStage } from '../../domain/types.js';

/**
 * How one leased stage job ended: done (next stage enqueued), to be retried, given up on, cut
 * off (shutdown, document deleted) or lost (its lease was taken over).
 */
export type JobOutcome = 'succeeded' | 'retrying' | 'failed' | 'cancelled' | 'lost';

/** Events for metrics. */
export interface PipelineEvents {
  jobSettled: [info: { stage: PipelineStage; outcome: JobOutcome; seconds: number }];
}
