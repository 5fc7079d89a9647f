# A MicroPython user C module (USER_C_MODULES=<this project>/tools/tlsheap): axTLS's allocations on the GC heap,
# as on the ESP8266, and the `tlsheap` module that reports them (docs/mqtt.md, "TLS"; tools/tlscost.py).
SRC_USERMOD_C += $(USERMOD_DIR)/tlsheap.c
# axTLS is built with -Dabort=abort_ on the ESP8266: MicroPython's own abort_ raises RuntimeError
SRC_USERMOD_LIB_C += shared/libc/abort_.c
