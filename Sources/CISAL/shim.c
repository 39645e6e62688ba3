// Everything lives in include/CISAL.h (ISA-L's own headers); SwiftPM needs one source file.
#include "CISAL.h"
