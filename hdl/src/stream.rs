//! Stream plumbing blocks: FIFO, width converter, argmax.
