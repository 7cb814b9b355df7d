/*
 * Thread scaling of one-token decoding in the native kernels, without Node: a decode step
 * (rmsnorm, q/k/v, o, gate/up, down, residual adds per layer, then a q8_0 head over 32000
 * rows) with random quantised weights, timed on 1 and 2 threads alternately in one process,
 * so the ratio holds on a busy machine. Shape 0: stories15M (dim 288, 6 layers); shape 1:
 * TinyLlama 1.1B (dim 2048, FFN 5632, 4 KV heads of 64) with LAYERS layers. MULTI=1 runs q/k/v
 * and gate/up through lt_qmatmul_multi (activations quantised once) instead of one call each.
 *
 *   N=native; F="-std=c11 -O3 -ffp-contract=fast -fno-math-errno -I$N"
 *   gcc $F -c $N/isa_avx2.c -mavx2 -mfma -o /tmp/a2.o
 *   gcc $F -c $N/isa_avx512.c -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -o /tmp/a5.o
 *   gcc $F -o /tmp/decode-threads bench/native/decode-threads.c $N/pool.c $N/kernels.c $N/isa_scalar.c \
 *       $N/quant.c /tmp/a2.o /tmp/a5.o -lm -pthread
 *   /tmp/decode-threads SHAPE TYPE REPS [LAYERS]     e.g. 0 8 20, or 1 8 4 4 (type: ggml id, 8 = q8_0)
 *
 * Prints the best and mean step time per thread count and their ratios (1 thread / 2 threads).
 */
#define _GNU_SOURCE
#include "lt.h"
#include "quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef struct { size_t d,F,kv,L,V; } shape;
static uint8_t *mkq(int type,size_t n,size_t k){ size_t rb=lt_q_row_bytes(type,k); uint8_t*w=malloc(n*rb); for(size_t i=0;i<n*rb;i++) w[i]=rand();
  if(type==LT_QT_Q8_0||type==LT_QT_Q4_0){size_t bb=type==LT_QT_Q8_0?34:18; for(size_t i=0;i<n*rb;i+=bb){w[i]=0;w[i+1]=0x20;}} return w;}
typedef struct { uint8_t *wq,*wk,*wv,*wo,*wg,*wu,*wd; float *n1,*n2;} layer;
static float *rnd(size_t n){float*x=malloc(n*4);for(size_t i=0;i<n;i++)x[i]=(rand()/(float)RAND_MAX-0.5f);return x;}
int main(int argc,char**argv){
  if(argc<4||(atoi(argv[1])==1&&argc<5)){fprintf(stderr,"usage: decode-threads SHAPE(0|1) TYPE REPS [LAYERS]\n");return 2;}
  int which=atoi(argv[1]); int type=atoi(argv[2]); int reps=atoi(argv[3]);
  shape S = which==0 ? (shape){288,768,288,6,32000} : (shape){2048,5632,256,atoi(argv[4]),32000};
  lt_set_ops(&lt_ops_avx512); /* AVX-512 machines only: use lt_ops_avx2 elsewhere */
  layer *Ls=malloc(S.L*sizeof(layer));
  for(size_t l=0;l<S.L;l++){layer*L=&Ls[l];L->wq=mkq(type,S.d,S.d);L->wk=mkq(type,S.kv,S.d);L->wv=mkq(type,S.kv,S.d);L->wo=mkq(type,S.d,S.d);
   L->wg=mkq(type,S.F,S.d);L->wu=mkq(type,S.F,S.d);L->wd=mkq(type,S.d,S.F);L->n1=rnd(S.d);L->n2=rnd(S.d);}
  uint8_t *head=mkq(LT_QT_Q8_0,S.V,S.d);
  float *x=rnd(S.d),*xn=rnd(S.d),*q=rnd(S.d),*k=rnd(S.kv),*v=rnd(S.kv),*pr=rnd(S.d),*g=rnd(S.F),*u=rnd(S.F),*lo=rnd(S.V);
  int th[2]={1,2}; double best[2]={1e9,1e9}, sum[2]={0,0};
  for(int r=0;r<reps;r++) for(int ti=0;ti<2;ti++){
    lt_set_threads(th[ti]);
    int toks=which==0?50:3;
    double t0=now();
    for(int t=0;t<toks;t++){
      for(size_t l=0;l<S.L;l++){layer*L=&Ls[l];
        lt_rmsnorm(xn,x,L->n1,1,S.d,1e-5f);
        if(getenv("MULTI")){lt_qmat m3[3]={{q,L->wq,type,S.d},{k,L->wk,type,S.kv},{v,L->wv,type,S.kv}};lt_qmatmul_multi(m3,3,xn,1,S.d);} else {
        lt_qmatmul(q,xn,L->wq,type,1,S.d,S.d);lt_qmatmul(k,xn,L->wk,type,1,S.kv,S.d);lt_qmatmul(v,xn,L->wv,type,1,S.kv,S.d);}
        lt_qmatmul(pr,q,L->wo,type,1,S.d,S.d); lt_add(x,pr,S.d);
        lt_rmsnorm(xn,x,L->n2,1,S.d,1e-5f);
        if(getenv("MULTI")){lt_qmat m2[2]={{g,L->wg,type,S.F},{u,L->wu,type,S.F}};lt_qmatmul_multi(m2,2,xn,1,S.d);} else {
        lt_qmatmul(g,xn,L->wg,type,1,S.F,S.d);lt_qmatmul(u,xn,L->wu,type,1,S.F,S.d);}lt_swiglu(g,g,u,S.F);
        lt_qmatmul(pr,g,L->wd,type,1,S.d,S.F); lt_add(x,pr,S.d);
        for(size_t i=0;i<S.d;i++) x[i]*=0.5f;
      }
      lt_rmsnorm(xn,x,Ls[0].n1,1,S.d,1e-5f);
      lt_qmatmul(lo,xn,head,LT_QT_Q8_0,1,S.V,S.d);
    }
    double dt=(now()-t0)/toks; if(dt<best[ti])best[ti]=dt; sum[ti]+=dt;
  }
  printf("shape %d type %d: 1t best %.3f ms avg %.3f | 2t best %.3f ms avg %.3f | ratio best %.2f avg %.2f\n",which,type,best[0]*1e3,sum[0]/reps*1e3,best[1]*1e3,sum[1]/reps*1e3,best[0]/best[1],sum[0]/sum[1]);
  return 0;
}
