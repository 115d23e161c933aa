/* placeholder: the client library is being written */
#include "sockbroker.h"
