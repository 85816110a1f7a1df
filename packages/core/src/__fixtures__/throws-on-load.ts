throw new Error('cannot initialise the frobnicator');
