/* placeholder: the shim is being written */
#include <sys/socket.h>
__attribute__((visibility("default"))) int bind(int fd, const struct sockaddr *a, socklen_t l);
int sb_shim_placeholder;
