// Everything lives in include/CLinuxShims.h as static inline functions; SwiftPM needs one source file.
#include "CLinuxShims.h"
