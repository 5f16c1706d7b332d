/** Pipeline worker process: workflows + CPU activities on the pipeline task queue. */
import { runWorkerProcess } from './run-worker';
import { createPipelineWorker } from './workers';

runWorkerProcess('pipeline', createPipelineWorker).catch((error) => {
  console.error(error);
  process.exit(1);
});
