export { createLogsEmulator, startLogsEmulator, LOGS_TARGET_PREFIX } from './server';
export type { LogsEmulator, LogsEmulatorOptions, RunningLogsEmulator } from './server';
export { SUPPORTED_ACTIONS as LOGS_SUPPORTED_ACTIONS } from './api';
