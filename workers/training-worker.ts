/** Training worker process: model activities on the training (GPU pool) task queue. */
import { runWorkerProcess } from './run-worker';
import { createTrainingWorker } from './workers';

runWorkerProcess('training', createTrainingWorker).catch((error) => {
  console.error(error);
  process.exit(1);
});
