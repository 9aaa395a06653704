/* it_multinode: two calsync nodes sharing one MySQL-protocol store (placeholder). */
#include <stdio.h>
int main(void)
{
    return 0;
}
