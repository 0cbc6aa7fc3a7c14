/* time_internal.h — between the files of kernel/time/ only. */
#ifndef TIME_INTERNAL_H
#define TIME_INTERNAL_H
/* Calibrate the TSC (boot CPU, interrupts off); 0 or -ENODEV (fallback used). */
int tsc_calibrate(void);
#endif
