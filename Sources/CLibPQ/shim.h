#ifndef BMBILL_CLIBPQ_SHIM_H
#define BMBILL_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
