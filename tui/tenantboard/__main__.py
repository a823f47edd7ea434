from tenantboard.cli import main

raise SystemExit(main())
