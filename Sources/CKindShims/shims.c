// Everything lives in include/CKindShims.h as static inline functions; SwiftPM needs one source file.
#include "CKindShims.h"
