export { Compiler, CompiledStep, CompileError, COMPILE_MODES, fastestPath, optimizerHooks, TRIAL_FROM_MS, type CompileMode, type CompilerOptions, type StepCounts, type StepHooks } from './compiler.js';
export { decodeOpTimings, type OpTiming } from './proto.js';
export { AddonLoadFailed, AddonNotBuilt, ADDON_PATH, loadGraphBinding } from './native.js';
export { recordStep, ownCopy, ownVariable, assignOwnCopy, canonicalLines, differenceBetween, type Trace } from './trace.js';
export { probeCompiledPath, type CompileProbe } from './probe.js';
export { pathDifference, TOLERANCE, type PathDifference } from './tolerance.js';
export { choiceInWords, choiceKey, readChoices, rememberChoice, STEP_PATHS, STEP_PATH_WORDS, type StepChoice, type StepPath } from './choices.js';
export { cpuFacts, machineDescription, machineKey, sessionThreads, type CpuFacts } from './machine.js';
